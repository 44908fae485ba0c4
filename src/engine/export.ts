import { Marked, type Tokens } from 'marked';

/** Formats results export to: Markdown text, or a standalone HTML page rendered from it. */
export const EXPORT_FORMATS = ['md', 'html'] as const;

/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** One item of an export: a result of a bot, or the output of a pipeline run. */
export interface ExportItem {
  title: string;
  /** Markdown (a bot's or model's answer usually is). */
  content: string;
  url?: string | null;
  /** When it was made, epoch ms. */
  at: number;
  /** A short line under the title (`run #12`, `pinned`, `input: …`). */
  meta?: string;
}

/** A file to download: its name, content type and body. */
export interface ExportFile {
  filename: string;
  contentType: string;
  body: string;
}

/**
 * Results as one document (seed 001's Research-Bot "exports a newsletter draft"): a heading, then
 * each item with its title, link, meta line and content, newest first as given.
 * @param title the document's title, e.g. `📰 Newsletter-Writer — results`
 * @param slug the file's base name (letters, digits, `-`), e.g. `newsletter-writer-results`
 */
export function exportResults(title: string, slug: string, items: ExportItem[], format: ExportFormat, now = Date.now()): ExportFile {
  const md = resultsMarkdown(title, items, now);
  if (format === 'md') return { filename: `${slug}.md`, contentType: 'text/markdown; charset=utf-8', body: md };
  return { filename: `${slug}.html`, contentType: 'text/html; charset=utf-8', body: htmlPage(title, markdownToHtml(md)) };
}

/** The Markdown of {@link exportResults}. */
export function resultsMarkdown(title: string, items: ExportItem[], now = Date.now()): string {
  const out = [`# ${title}`, '', `_Exported ${new Date(now).toISOString().slice(0, 16).replace('T', ' ')} UTC · ${items.length} item${items.length === 1 ? '' : 's'}_`, ''];
  for (const it of items) {
    out.push(`## ${it.title.replace(/\n/g, ' ')}`, '');
    const meta = [new Date(it.at).toISOString().slice(0, 16).replace('T', ' ') + ' UTC', it.meta].filter(Boolean).join(' · ');
    out.push(`_${meta}_`, '');
    if (it.url) out.push(`<${it.url}>`, '');
    if (it.content.trim() && it.content.trim() !== it.title.trim()) out.push(it.content.trim(), '');
    out.push('---', '');
  }
  return out.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Markdown to HTML (marked, GitHub-flavoured) that cannot script the page it lands in: raw HTML in
 * the text is shown as text, and only http(s), mailto and relative links stay links.
 */
const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag) {
      return escapeHtml(text);
    },
    link({ href, title, tokens }: Tokens.Link) {
      const inner = this.parser.parseInline(tokens);
      if (!/^(https?:|mailto:|\/|#|\.)/i.test(href)) return inner;
      return `<a href="${escapeHtml(href)}"${title ? ` title="${escapeHtml(title)}"` : ''} rel="noopener noreferrer">${inner}</a>`;
    },
    image({ href, text }: Tokens.Image) {
      return /^https?:/i.test(href) ? `<img src="${escapeHtml(href)}" alt="${escapeHtml(text)}">` : escapeHtml(text);
    },
  },
});

/** See {@link marked} above. */
export function markdownToHtml(md: string): string {
  return marked.parse(md, { async: false });
}

function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.55 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}hr{border:0;border-top:1px solid #ddd;margin:1.5rem 0}code,pre{background:#f4f5f7;border-radius:4px}pre{padding:.6rem;overflow:auto}a{color:#2356c7}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** A file name part from a name: lower case, letters and digits, `-` between. */
export function slugOf(name: string): string {
  return (
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'export'
  );
}
