import { createJsonLineParser } from '../../stack/json-lines.js';
import { listContextFiles } from './context.js';
import type { BuildContext, Engine } from './engine.js';
import { DeployError } from './errors.js';

export interface BuildOptions {
  /** The directory with the Dockerfile (the repository root). */
  context: string;
  tag: string;
  /** The Dockerfile's NODE_VERSION build argument (default: the Dockerfile's, 24). */
  nodeVersion?: string;
  /** Each line of build output, as `docker build` prints it. */
  onProgress?: (line: string) => void;
}

/** One message of the engine's build output. */
interface BuildMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Builds the image from a context directory, honouring its .dockerignore. A failing step does not
 * fail the HTTP request: the engine answers 200 and reports `{ error }` inside the stream, so the
 * stream is read to its end and any error message turned into a DeployError.
 */
export async function buildImage(
  engine: Engine,
  options: BuildOptions,
): Promise<{ id: string; tag: string }> {
  const src = await listContextFiles(options.context);
  return buildFromContext(engine, { context: options.context, src }, options);
}

/** buildImage for a ready context (a tar stream, or a directory and its file list). */
export async function buildFromContext(
  engine: Engine,
  context: BuildContext,
  options: Omit<BuildOptions, 'context'>,
): Promise<{ id: string; tag: string }> {
  const { tag, nodeVersion, onProgress = () => {} } = options;
  const stream = await engine.buildImage(context, {
    t: tag,
    ...(nodeVersion ? { buildargs: { NODE_VERSION: nodeVersion } } : {}),
  });
  let failure: string | null = null;
  let imageId: string | null = null;
  await new Promise<void>((resolve, reject) => {
    const parser = createJsonLineParser(
      function onMessage(value) {
        const message = value as BuildMessage;
        if (message.error || message.errorDetail?.message) {
          failure = (message.error ?? message.errorDetail?.message ?? '').trim();
          onProgress(failure);
          return;
        }
        if (message.aux?.ID) imageId = message.aux.ID;
        if (typeof message.stream === 'string') {
          for (const line of message.stream.replace(/\n$/, '').split('\n'))
            if (line.trim() !== '') onProgress(line);
        } else if (message.status) {
          onProgress([message.id, message.status, message.progress].filter(Boolean).join(' '));
        }
      },
      (line) => onProgress(line),
    );
    stream.on('data', (chunk: Buffer | string) => parser.push(chunk));
    stream.on('end', () => {
      parser.end();
      resolve();
    });
    stream.on('error', (error: unknown) =>
      reject(
        new DeployError('GH_ERR_DEPLOY_BUILD', `build of ${tag}: the engine connection broke`, {
          cause: error,
        }),
      ),
    );
  });
  if (failure !== null) throw new DeployError('GH_ERR_DEPLOY_BUILD', `build of ${tag} failed: ${failure}`);
  // The classic builder sends the ID as aux only for some versions; the tag is the truth.
  const id = (await engine.imageId(tag)) ?? imageId;
  if (id === null) throw new DeployError('GH_ERR_DEPLOY_BUILD', `build of ${tag} ended without an image`);
  return { id, tag };
}
