import { join } from 'node:path';
import { Eta } from 'eta';
import { packageRoot } from '../../config/index.js';

/** The views ship as source next to this file and are read from the package root: the build copies nothing. */
export const viewsDir = join(packageRoot, 'app', 'site', 'views');

export interface PageData {
  title: string;
  [key: string]: unknown;
}

export interface Views {
  /** An HTML response rendered from `views/<name>.eta` inside the layout. */
  page(name: string, data: PageData, init?: { status?: number; headers?: Record<string, string> }): Response;
}

export function createViews(dir: string = viewsDir): Views {
  // autoEscape is Eta's default; spelled out because every page echoes user input.
  const eta = new Eta({ views: dir, cache: true, autoEscape: true });
  return {
    page(name, data, init = {}) {
      const html = eta.render(`./${name}`, data);
      return new Response(html, {
        status: init.status ?? 200,
        headers: { 'content-type': 'text/html; charset=utf-8', ...init.headers },
      });
    },
  };
}
