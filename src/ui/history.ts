// The gallery's history in the browser's IndexedDB (images as Blobs, bytes as the server sent them), so it
// survives a reload. Without IndexedDB (some private modes) the history lasts as long as the page.
export interface HistoryImage {
  blob: Blob;
  seed: number;
  width: number;
  height: number;
}

export interface HistoryEntry {
  id: string;
  created: number;
  model: string;
  request: Record<string, unknown>;
  images: HistoryImage[];
  /** The A1111 `parameters` text of the first image (from POST /v1/png-info). */
  parameters: string | null;
  seconds: number | null;
}

const DB = 'mgen-playground';
const STORE = 'history';
const KEEP = 100;
let memory: HistoryEntry[] = [];

function open(): Promise<IDBDatabase | null> {
  return new Promise((resolve) => {
    try {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, {keyPath: 'id'});
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('history: write failed'));
    tx.onabort = () => reject(tx.error ?? new Error('history: write aborted'));
  });
}

export async function loadHistory(): Promise<HistoryEntry[]> {
  const db = await open();
  if (!db) return [...memory];
  const all = await new Promise<HistoryEntry[]>((resolve) => {
    const req = db.transaction(STORE).objectStore(STORE).getAll();
    req.onsuccess = () => resolve(req.result as HistoryEntry[]);
    req.onerror = () => resolve([]);
  });
  db.close();
  return all.sort((a, b) => b.created - a.created);
}

export async function saveEntry(entry: HistoryEntry): Promise<void> {
  memory = [entry, ...memory].slice(0, KEEP);
  const db = await open();
  if (!db) return;
  const all = await loadHistory();
  const tx = db.transaction(STORE, 'readwrite');
  const store = tx.objectStore(STORE);
  store.put(entry);
  for (const old of all.slice(KEEP - 1)) store.delete(old.id);
  await done(tx).finally(() => db.close());
}

export async function deleteEntry(id: string): Promise<void> {
  memory = memory.filter((e) => e.id !== id);
  const db = await open();
  if (!db) return;
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).delete(id);
  await done(tx).finally(() => db.close());
}

export async function clearHistory(): Promise<void> {
  memory = [];
  const db = await open();
  if (!db) return;
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).clear();
  await done(tx).finally(() => db.close());
}
