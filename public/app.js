// The dashboard's few behaviours beyond htmx and the live stream (src/web/live/). The
// Content-Security-Policy (src/web/app.ts) runs scripts from this site only, so views carry data
// attributes instead of inline handlers.

// <button data-open-dialog="ID"> opens the <dialog id="ID">; <button data-close-dialog> closes its own.
document.addEventListener('click', (e) => {
  const el = e.target instanceof Element ? e.target.closest('[data-open-dialog], [data-close-dialog]') : null;
  if (!el) return;
  if (el.hasAttribute('data-open-dialog')) document.getElementById(el.getAttribute('data-open-dialog'))?.showModal();
  else el.closest('dialog')?.close();
});

// The stream sends a bot page the log panel of each run it follows. A panel that already shows
// that run (the page was rendered with it, or "Run now" answered with it) is kept, so its log
// stream is not opened twice.
document.addEventListener('htmx:sseBeforeMessage', (e) => {
  if (e.detail.type !== 'run') return;
  const shown = document.getElementById('run-panel')?.dataset.runId;
  const m = /data-run-id="(\d+)"/.exec(e.detail.data);
  if (shown && m && shown === m[1]) e.preventDefault();
});

// The New-bot dialog opens empty: closing it (Cancel, the close button, Esc) puts back the form
// as the page first rendered it, whatever a template or a failed submit filled in.
document.addEventListener('DOMContentLoaded', () => {
  const dialog = document.getElementById('new-bot');
  const form = dialog?.querySelector('#new-bot-form');
  if (!dialog || !form) return;
  const blank = form.outerHTML;
  dialog.addEventListener('close', () => {
    const current = dialog.querySelector('#new-bot-form');
    if (!current) return;
    const fresh = document.createElement('template');
    fresh.innerHTML = blank;
    const replacement = fresh.content.firstElementChild;
    current.replaceWith(replacement);
    htmx.process(replacement);
  });
});
