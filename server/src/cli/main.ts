import { runCli } from './cli';

// Entry of the bundled CLI (dist/cli.js, launched by bin/fastapi-lens.js).
void runCli(process.argv.slice(2), {
  cwd: process.cwd(),
  isTTY: !!process.stdout.isTTY,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then((code) => {
  process.exitCode = code;
});
