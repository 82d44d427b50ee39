// Scaffolding: replaced by the component that owns `ambit node`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit node: not built yet');
  return Promise.resolve(2);
}
