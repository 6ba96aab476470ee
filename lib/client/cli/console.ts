import { type Command, type Parsed, UsageError } from './command.ts';
import { stringOption } from './options.ts';

export const operatorConsole: Command = {
  name: 'console',
  usage: 'console --url URL [--port N]',
  summary: 'serve the operator console for a deployed API on this machine',
  details: `Serves the operator console at http://127.0.0.1:N/console and forwards the
page's API calls to URL, SigV4-signed with your AWS credentials, so the browser
never holds them. Listens on loopback only; runs until interrupted (Ctrl-C).
Open the printed address in a browser.

Options:
  --port N  the port to listen on (default 8080; 0: any free port)
`,
  options: { port: { type: 'string' } },
  positionals: [],
  async run({ client, io, args }) {
    const port = portOption(args);
    const { startConsoleProxy } = await import('../../console/proxy.ts');
    const proxy = await startConsoleProxy({ url: client.baseUrl, port, region: stringOption(args, 'region') });
    io.stdout.write(`console on ${proxy.url}/console (API calls signed for ${client.baseUrl})\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await proxy.close();
    return undefined;
  },
};

function portOption(args: Parsed): number {
  const text = stringOption(args, 'port') ?? '8080';
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port <= 65535)) throw new UsageError(`--port must be 0-65535; got '${text}'`);
  return port;
}
