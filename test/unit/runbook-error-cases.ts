/**
 * Runbook texts the loader refuses, one problem each, with the exact line each yields ("line:col:
 * message (hint)", file name stripped, or a pattern): model-errors.test.ts checks the loader's
 * words, validate-apply-parity.test.ts that validate, show and apply refuse each alike.
 */
const STEP = 'steps:\n  - name: s\n    check: "true"\n';

export const RUNBOOK_ERROR_CASES: Array<[kind: string, yaml: string, expected: string | RegExp]> = [
  ['YAML syntax', 'steps: [\n  - name: s\n', /^\d+:\d+: .+/],
  ['unknown top-level key', `desc: x\n${STEP}`, '1:1: unknown key "desc" (did you mean "description"?)'],
  ['unknown step key', 'steps:\n  - name: s\n    chek: "true"\n    check: x\n', '3:5: unknown key "chek" in steps[0] (did you mean "check"?)'],
  ['unknown key far from any', `zzzzzzzz: 1\n${STEP}`, /^1:1: unknown key "zzzzzzzz" \(allowed keys: name, description, vars/],
  ['missing required key', 'steps:\n  - name: s\n    fix: x\n', '2:5: missing required key "check" in steps[0]'],
  ['wrong type', 'steps:\n  - name: s\n    check: "true"\n    continue_on_failure: maybe\n', '4:26: steps[0].continue_on_failure: expected boolean, received string'],
  ['fix of wrong type', 'steps:\n  - name: s\n    check: "true"\n    fix: { a: 1 }\n', '4:10: steps[0].fix: expected a command or a list of commands'],
  ['bad timeout', 'steps:\n  - name: s\n    check: "true"\n    timeout: soon\n', '4:14: steps[0].timeout: expected a duration such as "30s", "2m", "500ms", or a number of seconds'],
  ['bad serial', `serial: lots\n${STEP}`, '1:9: serial: expected a batch size as a number or a percentage such as "25%"'],
  ['no steps', 'steps: []\n', '1:8: steps: a runbook needs at least one step'],
  ['empty file', '', /^1:1: expected object, received null/],
  ['not a mapping', '- a\n- b\n', /^1:1: expected object, received array/],
  ['duplicate key', 'steps:\n  - name: s\n    check: a\n    check: b\n', '4:5: duplicate key "check" (a key may appear once in a mapping; remove or rename one)'],
  ['duplicate step name', 'steps:\n  - name: s\n    check: a\n  - name: s\n    check: b\n', '4:11: duplicate step name "s" (step names identify steps in output and the audit trail; make them unique)'],
  ['template syntax', 'steps:\n  - name: s\n    check: echo {{ x | upper }}\n', '3:12: unknown template filter "upper" in "{{ x | upper }}"; filters are: raw, json'],
  ['unclosed template', 'steps:\n  - name: s\n    check: echo {{ x\n', '3:12: unclosed "{{" in command; to send a literal "{{", use a var holding it'],
  ['bad regex', 'steps:\n  - name: s\n    check: a\n    expect: { regex: "(" }\n', /^4:22: bad regex: /],
  ['unknown handler', 'steps:\n  - name: s\n    check: a\n    notify: restrat\nhandlers:\n  - name: restart\n    check: b\n', '4:13: notify names unknown handler "restrat" (did you mean "restart"?)'],
  ['local step through sudo', 'steps:\n  - name: s\n    check: a\n    local: true\n    become: true\n', '5:13: a local step runs on the controller as you, never through sudo (drop become: true, or drop local: true to run the step on the host)'],
  ['local step with files', 'steps:\n  - name: s\n    check: a\n    fix: b\n    local: true\n    files: [/etc/x]\n', "6:12: files is about the host's state, and a local step runs on the controller (drop it, or drop local: true to run the step on the host)"],
  ['local step with confirm', 'steps:\n  - name: s\n    check: a\n    fix: b\n    local: true\n    confirm: 60s\n', "6:14: confirm is about the host's state, and a local step runs on the controller (drop it, or drop local: true to run the step on the host)"],
  ['disruptive local step', 'steps:\n  - name: s\n    check: a\n    fix: b\n    local: true\n    disruptive: true\n', "6:17: disruptive drains the host's node around its fix, and a local step runs on the controller (mark the step on the host whose fix disrupts the pods)"],
  ['disruptive without a fix', 'steps:\n  - name: s\n    check: a\n    disruptive: true\n', '4:17: disruptive drains the node around a fix, and this step has no fix (drop it, or add the fix)'],
  ['disruptive once', 'steps:\n  - name: s\n    check: a\n    fix: b\n    on: m1\n    once: true\n    disruptive: true\n', '7:17: disruptive drains the node of the host the step runs on, one target at a time, and once runs it on another host (run the disruptive fix on its own target)'],
  ['disruptive handler', 'steps:\n  - name: s\n    check: a\nhandlers:\n  - name: h\n    check: a\n    fix: b\n    disruptive: true\n', "8:17: disruptive is for steps: a handler runs after the host's steps, without a drain (make the disruptive fix a step of its own)"],
  ['disruptive with an undo', 'steps:\n  - name: s\n    check: a\n    fix: b\n    snapshot: c\n    undo: d\n    disruptive: true\n', '7:17: a disruptive step cannot have an undo: runbook undo does not drain the node, so it would run with the pods in place (say why it has none with no_undo, or drop disruptive)'],
  ['json without register', 'steps:\n  - name: s\n    check: a\n    json: true\n', '4:11: json: true needs register (add register: NAME to store the parsed output)'],
  ['name mismatch', `name: other\n${STEP}`, '1:7: name "other" does not match the file name "rb" (rename the file to other.yaml or set name: rb)'],
  ['bad secret', `vars:\n  t: { secret: true, value: a, env: B }\n${STEP}`, '2:6: vars.t: a secret needs exactly one of value, env or file'],
  ['secret with unknown key', `vars:\n  t: { secret: true, envv: B }\n${STEP}`, /^2:6: vars.t: a secret needs exactly one of value, env or file$/],
  ['undo without captures', 'steps:\n  - name: s\n    check: a\n    fix: b\n    undo: c\n', '5:11: undo needs files or snapshot: runbook undo runs it only while what they capture is still as the fix left it (add a snapshot: a read-only command printing the state the fix changes, such as sysctl net.ipv4.ip_forward)'],
  ['undo and no_undo', 'steps:\n  - name: s\n    check: a\n    fix: b\n    snapshot: c\n    undo: d\n    no_undo: why\n', '7:14: a step has an undo or says why it has none (no_undo), not both (drop one of them)'],
  ['no_undo without a fix', 'steps:\n  - name: s\n    check: a\n    no_undo: why\n', '4:14: no_undo is about a fix, and this step has no fix (drop it, or add the fix)'],
  ['confirm with nothing to put back', 'steps:\n  - name: s\n    check: a\n    fix: b\n    confirm: 60s\n', '5:14: confirm needs something the watchdog can put back: files, or a snapshot with an undo (add files: for what the fix edits, or snapshot: and undo:)'],
  ['confirm within the timeout', 'steps:\n  - name: s\n    check: a\n    fix: b\n    files: [/x]\n    timeout: 30s\n    confirm: 20s\n', "7:14: confirm (20s) must be longer than the step's timeout (30s): the watchdog would put the state back while the fix may still run (make confirm longer than the fix and its verify take)"],
  ['confirm of a sensitive file', 'steps:\n  - name: s\n    check: a\n    fix: b\n    files: [{ path: /x, sensitive: true }]\n    confirm: 20s\n', '6:14: confirm cannot guard a sensitive file: its content is never kept, so the watchdog could not put it back (drop sensitive: true, or confirm)'],
  ['confirm too short', 'steps:\n  - name: s\n    check: a\n    fix: b\n    files: [/x]\n    confirm: 1s\n', '6:14: confirm must be from 5s to 1h (e.g. "60s": long enough for the fix and its verify)'],
  ['secret with unknown key (hint)', `vars:\n  t: { secret: true, env: B, envv: B }\n${STEP}`, '2:30: unknown key "envv" in vars.t (did you mean "env"?)'],
];
