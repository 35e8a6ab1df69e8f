// The gallery: every result with its parameters, "Copy parameters" (the A1111 text the PNG carries), "Use as
// input", "Use settings", download (the server's PNG bytes, metadata intact), remove. Alt text is the prompt.
import {$} from './api.js';
import {deleteEntry, type HistoryEntry} from './history.js';

export interface GalleryActions {
  useAsInput: ((blob: Blob) => void) | null;
  useSettings: (e: HistoryEntry) => void;
  notify: (text: string) => void;
}

const urls = new Map<Blob, string>();
const urlOf = (b: Blob): string => {
  let u = urls.get(b);
  if (!u) urls.set(b, (u = URL.createObjectURL(b)));
  return u;
};

function button(text: string, onClick: () => void, cls: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function summary(req: Record<string, unknown>, img: {seed: number; width: number; height: number}): string {
  const parts = [`${img.width}×${img.height}`, `seed ${img.seed}`];
  if (req.steps !== undefined) parts.push(`${req.steps} steps`);
  if (req.guidance_scale !== undefined) parts.push(`guidance ${req.guidance_scale}`);
  const loras = (req.loras ?? []) as Array<{name: string; scale: number}>;
  for (const l of loras) parts.push(`${l.name} × ${l.scale}`);
  return parts.join(' · ');
}

export function renderEntry(e: HistoryEntry, actions: GalleryActions): HTMLLIElement[] {
  return e.images.map((img, i) => {
    const li = document.createElement('li');
    li.dataset.entry = e.id;
    li.className = 'result';
    const pic = media(img.blob, String(e.request.prompt ?? '').slice(0, 300), img.width, img.height);
    const prompt = document.createElement('p');
    prompt.className = 'prompt';
    prompt.textContent = String(e.request.prompt ?? '');
    const params = document.createElement('p');
    params.className = 'params';
    params.textContent = summary(e.request, img) + (e.seconds !== null ? ` · ${e.seconds.toFixed(1)} s` : '');
    const buttons = document.createElement('div');
    buttons.className = 'buttons';
    const text = (e.parameters ?? '').replace(/Seed: \d+/, `Seed: ${img.seed}`);
    buttons.append(
      button('Copy parameters', async () => actions.notify((await copyText(text)) ? 'parameters copied' : `copy failed; parameters: ${text}`), 'copy'),
      button('Use settings', () => actions.useSettings({...e, request: {...e.request, seed: img.seed}}), 'settings'),
    );
    if (actions.useAsInput) {
      const use = actions.useAsInput;
      buttons.append(button('Use as input', () => use(img.blob), 'use-input'));
    }
    const a = document.createElement('a');
    a.href = urlOf(img.blob);
    a.download = `mgen-${img.seed}-${i}.${EXT[img.blob.type] ?? 'png'}`;
    a.textContent = 'Download';
    a.className = 'download';
    buttons.append(a, button('Remove', () => {
      void deleteEntry(e.id);
      for (const el of document.querySelectorAll(`#gallery-list li[data-entry="${e.id}"]`)) el.remove();
    }, 'remove'));
    li.append(pic, prompt, params, buttons);
    return li;
  });
}

const EXT: Record<string, string> = {
  'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'video/mp4': 'mp4', 'video/webm': 'webm',
  'audio/wav': 'wav', 'audio/flac': 'flac',
};

/** An image, or a player for a video / audio result (the media type the server sent), labelled with the prompt. */
function media(blob: Blob, label: string, width: number, height: number): HTMLElement {
  if (blob.type.startsWith('video/') || blob.type.startsWith('audio/')) {
    const player = document.createElement(blob.type.startsWith('video/') ? 'video' : 'audio');
    player.controls = true;
    player.loop = true;
    player.src = urlOf(blob);
    player.setAttribute('aria-label', label);
    if (player instanceof HTMLVideoElement) {
      player.width = width;
      player.height = height;
    }
    return player;
  }
  const pic = document.createElement('img');
  pic.src = urlOf(blob);
  pic.alt = label;
  pic.width = width;
  pic.height = height;
  return pic;
}

/** Shows entries (newest first): in place of the gallery, before it (a new result) or after it (the history). */
export function showEntries(entries: HistoryEntry[], actions: GalleryActions, where: 'replace' | 'prepend' | 'append' = 'replace'): void {
  const list = $('gallery-list');
  const items = entries.flatMap((e) => renderEntry(e, actions));
  if (where === 'prepend') list.prepend(...items);
  else if (where === 'append') list.append(...items);
  else list.replaceChildren(...items);
}
