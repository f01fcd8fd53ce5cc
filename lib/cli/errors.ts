// The two ways a command fails: bad usage (exit code 2: a wrong flag, a missing argument, a
// mode this build lacks) or a problem with a file or the data in it (exit code 1).

/** A problem with a file, the data in it, or the model: exit code 1. */
export class CliError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line itself is wrong: exit code 2. */
export class UsageError extends CliError {
  override readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit code for any error a command throws (library errors count as failures, 1). */
export function exitCodeOf(e: unknown): number {
  return e instanceof CliError ? e.exitCode : 1;
}
