// Scaffolding: replaced by the component that owns `ambit trace`.
export function run(_args: string[]): Promise<number> {
  console.error('ambit trace: not built yet');
  return Promise.resolve(2);
}
