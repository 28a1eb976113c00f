/**
 * The app of the process-model comparison: the same few bytes whichever way it is served, so the
 * difference is the process model alone. A Fetch handler (the gateway interface).
 */
export default function tinyApp(_request: Request): Response {
  return new Response('Hello world\n', { headers: { 'content-type': 'text/plain' } });
}
