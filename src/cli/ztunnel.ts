/** `ambit ztunnel`: the L4 node proxy (loaded on demand so the daemon loads only its own code). */
export async function run(args: string[]): Promise<number> {
  const { run: main } = await import('../ztunnel/main.js');
  return main(args);
}
