import { Eta } from 'eta';
import { view } from './view-helpers.ts';

/** Renders a template of `views/` (e.g. `partials/bot-card`) with `data` plus the helpers `h` and `tz`. */
export type Renderer = (name: string, data: Record<string, unknown>) => string;

/** The dashboard's template renderer over `viewsDir` (eta, cached, HTML-escaping by default). */
export function viewRenderer(viewsDir: string): Renderer {
  const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: false });
  return (name, data) => eta.render(name, { ...data, h: view, tz: view.tz });
}
