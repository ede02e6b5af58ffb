/**
 * Text from outside (a host's output, what kubectl printed) made safe to show: a compromised node
 * or API server could send escape sequences that repaint the operator's terminal or forge a
 * prompt. The engine neutralises host output with these; the inventory loader, kubectl's errors.
 */

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Makes control characters visible (caret notation / \u escapes); keeps \n and \t. */
export function neutralize(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return '^?';
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * How long one line of text may be. A reason or an error is often what the operator must act on
 * (a refusal with the line to add to known_hosts, a runbook's own refusal that the host printed),
 * so it is shown whole; this bound only stops a flood.
 */
export const LINE_MAX = 4000;

/** A single display line (reasons, names): flattened, neutralised, cut (marked …) only past `max`. */
export function oneLine(text: string, max = LINE_MAX): string {
  const flat = neutralize(text.replace(/\s*\n\s*/g, ' | ').trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
