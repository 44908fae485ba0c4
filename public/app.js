// The dashboard's few behaviours beyond htmx. The Content-Security-Policy (src/web/app.ts) runs
// scripts from this site only, so views carry data attributes instead of inline handlers.

// <button data-open-dialog="ID"> opens the <dialog id="ID">; <button data-close-dialog> closes its own.
document.addEventListener('click', (e) => {
  const el = e.target instanceof Element ? e.target.closest('[data-open-dialog], [data-close-dialog]') : null;
  if (!el) return;
  if (el.hasAttribute('data-open-dialog')) document.getElementById(el.getAttribute('data-open-dialog'))?.showModal();
  else el.closest('dialog')?.close();
});

// A run's end arrives over SSE as the run-end partial (marked data-run-ended): the live markers go,
// and the panels listening for `run-ended from:body` (runs, results) reload.
htmx.onLoad((elt) => {
  if (!(elt instanceof Element) || !(elt.matches('[data-run-ended]') || elt.querySelector('[data-run-ended]'))) return;
  document.querySelectorAll('.run-state').forEach((e) => e.remove());
  htmx.trigger(document.body, 'run-ended');
});
