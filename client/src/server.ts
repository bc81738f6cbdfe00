/**
 * Starts `dist/server.js --stdio` under vscode-languageclient and keeps it running: when the
 * process dies it is restarted with an exponential back-off, and the user is told once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  State,
  type CloseHandlerResult,
  type ErrorHandlerResult,
  type LanguageClientOptions,
} from 'vscode-languageclient/node';
import { SETTINGS_SECTION } from '../../server/src/protocol';

const CLIENT_ID = SETTINGS_SECTION; // so that `fastapiLens.trace.server` is honoured
const CLIENT_NAME = 'FastAPI Security Lens';
/** Crashes within this window count toward giving up. */
const CRASH_WINDOW_MS = 3 * 60_000;
const MAX_CRASHES = 5;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;

export type ServerState = 'starting' | 'running' | 'stopped';

export class ServerController implements vscode.Disposable {
  readonly client: LanguageClient;
  private process: ChildProcess | undefined;
  private crashes: number[] = [];
  private disposed = false;
  private toldUser = false;
  crashNotices = 0;

  constructor(
    private readonly serverModule: string,
    private readonly output: vscode.LogOutputChannel,
  ) {
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'file', pattern: '**/pyproject.toml' },
      ],
      synchronize: {
        configurationSection: SETTINGS_SECTION,
        fileEvents: [
          vscode.workspace.createFileSystemWatcher('**/*.py'),
          vscode.workspace.createFileSystemWatcher('**/pyproject.toml'),
        ],
      },
      outputChannel: output,
      traceOutputChannel: output,
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => this.onClosed(),
      },
    };
    this.client = new LanguageClient(
      CLIENT_ID,
      CLIENT_NAME,
      () => Promise.resolve(this.spawnServer()),
      clientOptions,
    );
  }

  state(): ServerState {
    switch (this.client.state) {
      case State.Running:
        return 'running';
      case State.Starting:
        return 'starting';
      default:
        return this.disposed || this.crashes.length > MAX_CRASHES ? 'stopped' : 'starting';
    }
  }

  /**
   * Starts the client; errors go to the output channel (never thrown at activation). Returns
   * false when the server bundle is missing.
   */
  start(): boolean {
    if (!fs.existsSync(this.serverModule)) {
      const msg = `${CLIENT_NAME}: the language server is missing (${this.serverModule}). Reinstall the extension or run \`npm run build\`.`;
      this.output.error(msg);
      void vscode.window.showErrorMessage(msg);
      return false;
    }
    this.client
      .start()
      .catch((err: unknown) => this.output.error(`Server failed to start: ${String(err)}`));
    return true;
  }

  async restart(): Promise<void> {
    this.crashes = [];
    if (this.client.state === State.Running) await this.client.restart();
    else await this.client.start();
  }

  /** Resolves when the client is running. */
  ready(timeoutMs = 30_000): Promise<void> {
    if (this.client.state === State.Running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`${CLIENT_NAME} server did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      const sub = this.client.onDidChangeState((e) => {
        if (e.newState === State.Running) {
          clearTimeout(timer);
          sub.dispose();
          resolve();
        }
      });
    });
  }

  /** Kills the server process (test hook for the restart path). */
  kill(): number | undefined {
    const pid = this.process?.pid;
    this.process?.kill('SIGKILL');
    return pid;
  }

  private spawnServer(): ChildProcess {
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    // ELECTRON_RUN_AS_NODE makes desktop VS Code's Electron binary behave as Node.
    const child = spawn(process.execPath, [this.serverModule, '--stdio'], {
      cwd: cwd && fs.existsSync(cwd) ? cwd : undefined,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split(/\r?\n/)) if (line) this.output.info(`[server] ${line}`);
    });
    child.on('exit', (code, signal) => {
      if (!this.disposed)
        this.output.warn(`Server process exited (code ${code}, signal ${signal}).`);
    });
    this.process = child;
    return child;
  }

  private async onClosed(): Promise<CloseHandlerResult> {
    if (this.disposed) return { action: CloseAction.DoNotRestart, handled: true };
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    if (this.crashes.length > MAX_CRASHES) {
      const msg = `${CLIENT_NAME}: the server stopped ${this.crashes.length} times in 3 minutes and will not be restarted. See the output for details; run "FastAPI Security: Restart Server" to try again.`;
      void vscode.window.showErrorMessage(msg, 'Show Output').then((pick) => {
        if (pick) this.output.show(true);
      });
      return { action: CloseAction.DoNotRestart, message: msg, handled: true };
    }
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (this.crashes.length - 1));
    this.output.warn(`Server stopped unexpectedly; restarting in ${delay} ms.`);
    if (!this.toldUser) {
      this.toldUser = true;
      this.crashNotices++;
      void vscode.window
        .showWarningMessage(
          `${CLIENT_NAME}: the analysis server stopped unexpectedly and is being restarted.`,
          'Show Output',
        )
        .then((pick) => {
          if (pick) this.output.show(true);
        });
    }
    await new Promise((r) => setTimeout(r, delay));
    if (this.disposed) return { action: CloseAction.DoNotRestart, handled: true };
    return { action: CloseAction.Restart, handled: true };
  }

  /** Stops the server for good (deactivation). */
  stop(): Promise<void> {
    this.disposed = true;
    return this.client.state === State.Stopped
      ? Promise.resolve()
      : this.client.stop().catch(() => undefined);
  }

  dispose(): void {
    void this.stop();
  }
}
