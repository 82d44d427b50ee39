// Scaffolding: replaced by the component that owns `ambit demo`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit demo: not built yet');
  return Promise.resolve(2);
}
