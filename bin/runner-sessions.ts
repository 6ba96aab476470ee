#!/usr/bin/env node
import { ExitCode, isClosedPipe, main } from '#lib/client/cli/main.ts';

// A reader that stops early (`runner-sessions list --all | head -1`) closes the pipe: end there, successfully and quietly.
process.stdout.on('error', (error) => {
  if (isClosedPipe(error)) process.exit(ExitCode.Ok);
  process.stderr.write(`runner-sessions: cannot write the output: ${error.message}\n`);
  process.exit(ExitCode.Failure);
});

// No top-level await: the same entry is bundled as CommonJS for the single executable.
void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
  // Work a command gave up on (check-store --timeout) may still be in flight: it must not hold the exit back.
  // Output still queued for a slow reader is let out first.
  const exitOnceWritten = (): void => {
    if (process.stdout.writableLength === 0) process.exit(code);
    else setTimeout(exitOnceWritten, 100).unref();
  };
  setTimeout(exitOnceWritten, 1000).unref();
});
