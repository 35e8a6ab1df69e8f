// Per-request LoRAs: picked from GET /v1/loras (what this machine has: `mgen list`'s LoRAs, and the tiny builtin
// ones next to a builtin model), each with a scale slider. One for another family stays selectable, marked; the
// API refuses it with its own message, which the page shows.
import {$} from './api.js';

export interface LoraEntry {
  name: string;
  family: string;
  size: number | null;
}

export class Loras {
  private chosen = new Map<string, HTMLInputElement>();
  private known: LoraEntry[] = [];

  setup(list: LoraEntry[], modelFamily: string): void {
    this.known = list;
    const pick = $<HTMLSelectElement>('lora-pick');
    pick.replaceChildren(
      ...(list.length ? [] : [new Option('no LoRAs in the cache (mgen pull one)', '')]),
      ...list.map((l) => new Option(`${l.name} (${l.family}${l.family !== modelFamily && l.family !== '-' ? ', another family' : ''})`, l.name)),
    );
    $<HTMLButtonElement>('lora-add').disabled = list.length === 0;
    $('lora-add').addEventListener('click', () => {
      if (pick.value) this.add(pick.value, 1);
    });
  }

  add(name: string, scale: number): void {
    const existing = this.chosen.get(name);
    if (existing) {
      existing.value = String(scale);
      existing.dispatchEvent(new Event('input'));
      return;
    }
    const li = document.createElement('li');
    const label = document.createElement('label');
    label.className = 'name';
    const slider = document.createElement('input');
    slider.type = 'range';
    slider.min = '-2';
    slider.max = '2';
    slider.step = '0.05';
    slider.value = String(scale);
    slider.id = `lora-${this.chosen.size}-${Date.now()}`;
    label.htmlFor = slider.id;
    label.textContent = name;
    slider.setAttribute('aria-label', `${name} scale`);
    const out = document.createElement('output');
    out.textContent = slider.value;
    slider.addEventListener('input', () => (out.textContent = slider.value));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '✕';
    remove.setAttribute('aria-label', `Remove ${name}`);
    remove.addEventListener('click', () => {
      this.chosen.delete(name);
      li.remove();
      $('lora-pick').focus();
    });
    li.append(label, slider, out, remove);
    $('lora-list').append(li);
    this.chosen.set(name, slider);
  }

  set(list: Array<{name: string; scale?: number}>): void {
    this.chosen.clear();
    $('lora-list').replaceChildren();
    for (const l of list) this.add(l.name, l.scale ?? 1);
  }

  read(): Array<{name: string; scale: number}> {
    return [...this.chosen].map(([name, s]) => ({name, scale: Number(s.value)}));
  }

  get knownNames(): string[] {
    return this.known.map((l) => l.name);
  }
}
