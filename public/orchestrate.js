// Behaviours of the approvals inbox and the pipeline page beyond htmx. The Content-Security-Policy
// (src/web/app.ts) runs scripts from this site only, so views carry data attributes instead of
// inline handlers.

// <button data-edit-draft> in a draft's form makes its text editable.
document.addEventListener('click', (e) => {
  const btn = e.target instanceof Element ? e.target.closest('[data-edit-draft]') : null;
  if (!btn) return;
  const text = btn.form?.elements.namedItem('text');
  if (!(text instanceof HTMLTextAreaElement)) return;
  text.readOnly = false;
  text.focus();
  btn.hidden = true;
});

// The header's bell re-fetches its count when the page's live stream says a draft started or stopped
// waiting (the `approvals` event; htmx's SSE extension hands over its EventSource in htmx:sseOpen).
document.addEventListener('htmx:sseOpen', (e) => {
  const source = e.detail?.source;
  if (!source || source.__ooApprovals) return;
  source.__ooApprovals = true;
  source.addEventListener('approvals', () => htmx.trigger(document.body, 'approvals-changed'));
  // …and the failures count when a run of the caller's bots failed (`failures`).
  source.addEventListener('failures', () => htmx.trigger(document.body, 'failures-changed'));
});

// A pipeline's steps (.steps-editor) reorder by drag and drop (SortableJS, loaded by the pipeline
// page) and by the keyboard (arrow keys on a step's handle press its ↑ / ↓ button); either way the
// steps form is sent in the new order and the editor comes back re-rendered. htmx fires htmx:load on
// the body once it is ready, then on each piece of swapped-in content; a native listener hears both.
document.addEventListener('htmx:load', (e) => {
  const root = e.target;
  if (!(root instanceof Element)) return;
  const list = root.matches('.steps-editor') ? root : root.querySelector('.steps-editor');
  if (!list || list.dataset.sortable || !window.Sortable) return;
  list.dataset.sortable = '1';
  const form = list.closest('form');
  window.Sortable.create(list, {
    handle: '.drag-handle',
    animation: 120,
    forceFallback: true,
    onEnd: (ev) => {
      if (ev.oldIndex !== ev.newIndex) htmx.trigger(form, 'submit');
    },
  });
  list.addEventListener('keydown', (ev) => {
    if (!(ev.target instanceof Element) || !ev.target.classList.contains('drag-handle') || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return;
    ev.preventDefault();
    ev.target.closest('li')?.querySelector(ev.key === 'ArrowUp' ? '.move-up' : '.move-down')?.click();
  });
  list.querySelector('[data-focus]')?.focus();
});
