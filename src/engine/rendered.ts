/** A command rendered for one host: what is sent, and what every output shows. */
export interface RenderedCommand {
  /** Sent to the host verbatim (secrets included). Never put this in an event. */
  command: string;
  /** The same command with secrets masked: what every output shows. */
  display: string;
  /** The display with bulky values summarised, when any was (model/template.ts): for plans and run lines. */
  brief?: string;
}
