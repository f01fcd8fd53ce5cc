/** Why `thrown` is a bug (engine error, foreign error, non-Error), or undefined when it is ours. */
export function findingOf(thrown: unknown): string | undefined;
export const ENGINE_MESSAGES: RegExp[];
