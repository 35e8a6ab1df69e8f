// Input images for the models that take them: the image for img2img/inpaint (file, drop or paste), a mask
// painted on a canvas over it for inpaint (white = repaint; buttons for keyboard users), and a ControlNet's
// control image. All travel inline as data: URLs, as the API takes them.
import {$, dataUrlOf} from './api.js';
import type {ModelInfo, Serving} from './form.js';

export class Inputs {
  takesImage = false;
  takesMask = false;
  takesControl = false;
  private image: string | null = null;
  private control: string | null = null;
  private maskDirty = false;
  private readonly canvas = $<HTMLCanvasElement>('mask-canvas');
  private bg: HTMLImageElement | null = null;

  setup(model: ModelInfo, serving: Serving): void {
    // What the server loaded (the plan) decides; the report is the fallback for a server without /v1/serving.
    const task = serving.task ?? model.task ?? 'text-to-image';
    this.takesImage = task === 'image-to-image' || task === 'inpaint';
    this.takesMask = task === 'inpaint';
    this.takesControl = Boolean(serving.t2i_adapter) || (serving.controlnet ?? (/ControlNet/.test(model.pipeline ?? '') || Boolean(model.components?.controlnet?.present)));
    $('inputs').hidden = !(this.takesImage || this.takesControl);
    $('image-box').hidden = !this.takesImage;
    $('control-box').hidden = !this.takesControl;
    $<HTMLInputElement>('f-image').addEventListener('change', (e) => void this.fromFile((e.target as HTMLInputElement).files?.[0], 'image'));
    $<HTMLInputElement>('f-control').addEventListener('change', (e) => void this.fromFile((e.target as HTMLInputElement).files?.[0], 'control'));
    $('image-clear').addEventListener('click', () => this.clearImage());
    const strength = $<HTMLInputElement>('f-strength');
    strength.addEventListener('input', () => ($('f-strength-out').textContent = strength.value));
    for (const [id, zone] of [['image-box', 'image'], ['control-box', 'control']] as const) {
      const box = $(id);
      box.addEventListener('dragover', (e) => {
        e.preventDefault();
        box.classList.add('over');
      });
      box.addEventListener('dragleave', () => box.classList.remove('over'));
      box.addEventListener('drop', (e) => {
        e.preventDefault();
        e.stopPropagation();
        box.classList.remove('over');
        void this.fromFile(e.dataTransfer?.files[0], zone);
      });
    }
    this.setupMask();
  }

  private async fromFile(file: File | undefined, zone: 'image' | 'control'): Promise<void> {
    if (!file || !file.type.startsWith('image/')) return;
    await this.set(zone, await dataUrlOf(file));
  }

  async set(zone: 'image' | 'control', url: string): Promise<void> {
    if (zone === 'control') {
      this.control = url;
      const img = $<HTMLImageElement>('control-preview');
      img.src = url;
      img.alt = 'control image';
      img.hidden = false;
      return;
    }
    this.image = url;
    const img = new Image();
    img.src = url;
    await img.decode();
    this.bg = img;
    const prev = $<HTMLImageElement>('image-preview');
    if (this.takesMask) {
      this.canvas.width = img.naturalWidth;
      this.canvas.height = img.naturalHeight;
      this.maskDirty = false;
      this.mask = document.createElement('canvas');
      this.mask.width = img.naturalWidth;
      this.mask.height = img.naturalHeight;
      this.redraw();
      this.canvas.hidden = false;
      $('mask-tools').hidden = false;
      prev.hidden = true;
    } else {
      prev.src = url;
      prev.alt = 'input image';
      prev.hidden = false;
    }
  }

  clearImage(): void {
    this.image = null;
    this.bg = null;
    this.canvas.hidden = true;
    $('mask-tools').hidden = true;
    $('image-preview').hidden = true;
    $<HTMLInputElement>('f-image').value = '';
  }

  private mask: HTMLCanvasElement | null = null;

  private setupMask(): void {
    let drawing = false;
    const paint = (e: PointerEvent): void => {
      if (!drawing || !this.mask) return;
      const r = this.canvas.getBoundingClientRect();
      const x = ((e.clientX - r.left) / r.width) * this.canvas.width;
      const y = ((e.clientY - r.top) / r.height) * this.canvas.height;
      const size = (Number($<HTMLInputElement>('mask-brush').value) * this.canvas.width) / Math.max(r.width, 1);
      const m = this.mask.getContext('2d')!;
      m.fillStyle = '#fff';
      m.beginPath();
      m.arc(x, y, size / 2, 0, Math.PI * 2);
      m.fill();
      this.maskDirty = true;
      this.redraw();
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      drawing = true;
      this.canvas.setPointerCapture(e.pointerId);
      paint(e);
    });
    this.canvas.addEventListener('pointermove', paint);
    this.canvas.addEventListener('pointerup', () => (drawing = false));
    $('mask-all').addEventListener('click', () => this.fillMask(true));
    $('mask-clear').addEventListener('click', () => this.fillMask(false));
  }

  private fillMask(on: boolean): void {
    if (!this.mask) return;
    const m = this.mask.getContext('2d')!;
    m.clearRect(0, 0, this.mask.width, this.mask.height);
    if (on) {
      m.fillStyle = '#fff';
      m.fillRect(0, 0, this.mask.width, this.mask.height);
    }
    this.maskDirty = on;
    this.redraw();
  }

  private redraw(): void {
    const c = this.canvas.getContext('2d')!;
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.bg) c.drawImage(this.bg, 0, 0);
    if (this.mask) {
      c.globalAlpha = 0.5;
      c.drawImage(this.mask, 0, 0);
      c.globalAlpha = 1;
    }
  }

  /** The request fields for the inputs given, or an error. */
  read(): {fields: Record<string, unknown>; error?: string} {
    const fields: Record<string, unknown> = {};
    if (this.takesImage && this.image) {
      fields.image = this.image;
      fields.strength = Number($<HTMLInputElement>('f-strength').value);
      if (this.takesMask) {
        if (!this.mask || !this.maskDirty) return {fields, error: 'mask: paint the area to repaint (or "Mask all")'};
        // The mask the API takes: black background, white where to repaint, the input image's size.
        const out = document.createElement('canvas');
        out.width = this.mask.width;
        out.height = this.mask.height;
        const o = out.getContext('2d')!;
        o.fillStyle = '#000';
        o.fillRect(0, 0, out.width, out.height);
        o.drawImage(this.mask, 0, 0);
        fields.mask = out.toDataURL('image/png');
      }
    }
    if (this.takesControl && this.control) fields.control_image = this.control;
    return {fields};
  }
}
