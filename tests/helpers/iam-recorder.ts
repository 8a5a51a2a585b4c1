/**
 * Records the AWS requests a function makes, for the IAM evaluation (tests/package/iam-evaluation.test.ts).
 * The clients are aws-sdk-client-mock stubs: they see every command the code sends — the real adapters
 * build them — with its input and whether it failed. Each recording names the function the test drove:
 * recordings are sequential (one `during` at a time), so every request in one belongs to its function.
 */
import type { AwsStub } from 'aws-sdk-client-mock';
import type { RecordedCall } from './iam-actions.ts';

// biome-ignore lint/suspicious/noExplicitAny: the stubs' client and command types differ per service
type AnyStub = AwsStub<any, any, any>;

export class SdkCallRecorder {
  readonly calls: RecordedCall[] = [];
  private readonly stubs: Record<RecordedCall['service'], AnyStub>;
  private active: string | undefined;

  constructor(stubs: Record<RecordedCall['service'], AnyStub>) {
    this.stubs = stubs;
  }

  /** Runs `body` (which drives the handler of `fn`) and records the requests it made. */
  async during<T>(fn: string, body: () => Promise<T>): Promise<T> {
    if (this.active)
      throw new Error(`recording ${fn} while ${this.active} is recording: run them one at a time`);
    this.active = fn;
    const before = Object.fromEntries(
      Object.entries(this.stubs).map(([service, stub]) => [service, stub.calls().length]),
    );
    try {
      return await body();
    } finally {
      for (const [service, stub] of Object.entries(this.stubs)) {
        for (const call of stub.calls().slice(before[service] ?? 0)) {
          const command = call.args[0] as { input: Record<string, unknown>; constructor: { name: string } };
          const error = await Promise.resolve(call.returnValue).then(
            () => undefined,
            (e: unknown) => (e instanceof Error ? e.name : String(e)),
          );
          this.calls.push({
            fn,
            service: service as RecordedCall['service'],
            operation: command.constructor.name.replace(/Command$/, ''),
            input: command.input,
            ...(error ? { error } : {}),
          });
        }
      }
      this.active = undefined;
    }
  }
}
