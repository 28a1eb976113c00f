import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream of newline-delimited JSON (Docker's events and build output) into values.
 * Chunks may end mid-line or mid-character; a line that is not JSON goes to onInvalid.
 */
export function createJsonLineParser(
  onValue: (value: unknown) => void,
  onInvalid: (line: string, error: unknown) => void = () => {},
): { push(chunk: Buffer | string): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let pending = '';

  function emit(line: string): void {
    const text = line.trim();
    if (text === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      onInvalid(text, error);
      return;
    }
    onValue(value);
  }

  return {
    push(chunk) {
      pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        emit(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    },
    end() {
      emit(pending + decoder.end());
      pending = '';
    },
  };
}
