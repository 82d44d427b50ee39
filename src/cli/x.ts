// Scaffolding: replaced by the component that owns `ambit x`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit x: not built yet');
  return Promise.resolve(2);
}
