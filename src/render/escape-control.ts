// Text that came from a file, a hub or a request (tensor names, listing paths, class names, error messages) may hold
// ESC/OSC sequences that retitle, clear or rewrite a terminal. Every human-readable line goes through this before it
// is printed; --json output needs nothing (JSON.stringify already escapes control characters).

// C0 controls except \n and \t, DEL, and the C1 range (0x80-0x9f: CSI, OSC and friends in 8-bit form).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Replaces control characters with visible escapes (`\x1b`), keeping newlines and tabs. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
