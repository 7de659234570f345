/** A config file or flag that cannot be used; the message names the source, the field and the problem. */
export class ConfigError extends Error {
  /** Creates a config error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}
