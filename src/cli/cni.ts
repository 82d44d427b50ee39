// Scaffolding: replaced by the component that owns `ambit cni`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit cni: not built yet');
  return Promise.resolve(2);
}
