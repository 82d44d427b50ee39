// Scaffolding: replaced by the component that owns `ambit ztunnel`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit ztunnel: not built yet');
  return Promise.resolve(2);
}
