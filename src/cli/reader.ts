/**
 * Whether the process is recording runs in the foreground (a submission's
 * children): then a reader that goes away must not end it, or the runs it
 * supervises would be orphaned. See endQuietlyWhenReaderLeaves in index.ts.
 */
let recording = 0;

export const isRecording = (): boolean => recording > 0;

export async function whileRecording<T>(fn: () => Promise<T>): Promise<T> {
  recording++;
  try {
    return await fn();
  } finally {
    recording--;
  }
}
