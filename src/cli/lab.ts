// Scaffolding: replaced by the component that owns `ambit lab`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit lab: not built yet');
  return Promise.resolve(2);
}
