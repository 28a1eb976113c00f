import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { WebSocket } from 'ws';

/** Asserts that an open WebSocket to an echo sends text back as text and binary as binary. */
export async function assertEchoes(ws: WebSocket, text: string): Promise<void> {
  ws.send(text);
  const [echoed, textIsBinary] = await once(ws, 'message');
  assert.equal(String(echoed), text);
  assert.equal(textIsBinary, false);
  ws.send(Buffer.from([0, 1, 2, 255]));
  const [binary, binaryIsBinary] = await once(ws, 'message');
  assert.deepEqual([...(binary as Buffer)], [0, 1, 2, 255]);
  assert.equal(binaryIsBinary, true);
}
