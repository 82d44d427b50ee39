// Scaffolding: replaced by the component that owns `ambit controlplane`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit controlplane: not built yet');
  return Promise.resolve(2);
}
