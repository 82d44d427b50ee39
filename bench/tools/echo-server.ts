/**
 * The benchmarks' server: echoes every byte back on every connection. Serves the latency
 * workload (1 KiB request, 1 KiB response) and the connection-rate workload (1 byte each way).
 * Usage: node echo-server.js --port 9000
 */
import net from 'node:net';

const portArg = process.argv.indexOf('--port');
const port = Number(portArg >= 0 ? process.argv[portArg + 1] : 9000);

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen(port, '0.0.0.0', () => console.log(`echo server on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
