/**
 * Where notifications go: --notify URLs (with --notify-format) and the settings' notify targets,
 * signed with $RUNBOOK_NOTIFY_SECRET or the settings' notify_secret. Everything is checked before
 * the run starts: a target or secret that cannot be resolved is an error now, not a silence later.
 */
import { UserError } from '../model/errors.js';
import { describeOrigin, type Settings } from '../model/settings.js';
import { UnavailableSecret } from '../model/secrets.js';
import { maskedUrl, type NotifyFormat, type NotifyTarget } from '../report/notify.js';

export interface NotifySetup {
  targets: NotifyTarget[];
  secret?: string;
}

function checkedUrl(url: string, where: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError({ message: `${where}: the notify target is not a URL`, hint: 'give an http:// or https:// webhook URL' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UserError({ message: `${where}: notify target ${maskedUrl(url)} is not http(s)`, hint: 'give an http:// or https:// webhook URL' });
  // fetch refuses credentials in a URL: say so now, not at the end of the run.
  if (u.username || u.password) throw new UserError({ message: `${where}: notify target ${maskedUrl(url)} carries a user name or password`, hint: 'webhooks take their secret in the path or a query; sign with RUNBOOK_NOTIFY_SECRET for authenticity' });
  return url;
}

export function notifySetup(flags: string[] | undefined, format: NotifyFormat | undefined, settings: Settings, env: NodeJS.ProcessEnv = process.env): NotifySetup {
  const targets: NotifyTarget[] = (flags ?? []).map((url, i) => ({ url: checkedUrl(url, `--notify #${i + 1}`), format: format ?? 'json', name: `--notify #${i + 1}` }));
  if (!flags?.length && format) throw new UserError({ message: '--notify-format applies to --notify URLs, and none was given', hint: 'add --notify URL, or set format: in the settings\' notify targets' });
  for (const [i, t] of (settings.notify?.value ?? []).entries()) {
    const where = `notify[${i}] (${describeOrigin(settings.notify!.from)})`;
    if (t.url instanceof UnavailableSecret) throw new UserError({ message: `${where}: the webhook URL is unavailable: ${t.url.reason}`, hint: 'set it, or remove the target from the settings' });
    targets.push({ url: checkedUrl(t.url, where), format: t.format, name: `notify[${i}]` });
  }
  const fromSettings = settings.notifySecret?.value;
  if (!env.RUNBOOK_NOTIFY_SECRET && fromSettings instanceof UnavailableSecret) {
    throw new UserError({ message: `notify_secret (${describeOrigin(settings.notifySecret!.from)}) is unavailable: ${fromSettings.reason}`, hint: 'set it, or set $RUNBOOK_NOTIFY_SECRET' });
  }
  const secret = env.RUNBOOK_NOTIFY_SECRET || (typeof fromSettings === 'string' ? fromSettings : undefined);
  return { targets, ...(secret ? { secret } : {}) };
}
