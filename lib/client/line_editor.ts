/**
 * Reads console lines with history: arrow keys, Home/End, backspace, Ctrl-A/E/U/C/D when stdin is a
 * terminal (raw mode), plain lines otherwise (pipes, scripts). Asynchronous, so the transport pump
 * keeps running while the user types.
 */
export class LineEditor implements Disposable {
  readonly #history: string[] = [];
  readonly #historyFile?: string;
  readonly #prompt: string;
  readonly #reader = Deno.stdin.readable.getReader();
  readonly #tty = Deno.stdin.isTerminal();
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #buffered = "";

  /** Creates an editor; history is loaded from and saved to `historyFile` when given. */
  constructor(prompt: string, historyFile?: string) {
    this.#prompt = prompt;
    this.#historyFile = historyFile;
    if (historyFile) {
      try {
        this.#history.push(
          ...Deno.readTextFileSync(historyFile).split("\n").filter(Boolean).slice(-500),
        );
      } catch { /* no history yet */ }
    }
  }

  /** Reads one line; undefined at end of input (Ctrl-D). */
  async read(): Promise<string | undefined> {
    const line = this.#tty ? await this.#readRaw() : await this.#readPlain();
    if (line !== undefined && line.trim() !== "" && this.#history.at(-1) !== line) {
      this.#history.push(line);
      if (this.#historyFile) {
        try {
          Deno.writeTextFileSync(this.#historyFile, line + "\n", { append: true });
        } catch { /* history is a convenience */ }
      }
    }
    return line;
  }

  /** Writes text to stdout. */
  write(text: string): void {
    Deno.stdout.writeSync(this.#encoder.encode(text));
  }

  async #readPlain(): Promise<string | undefined> {
    this.write(this.#prompt);
    while (true) {
      const nl = this.#buffered.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffered.slice(0, nl).replace(/\r$/, "");
        this.#buffered = this.#buffered.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        if (this.#buffered === "") return undefined;
        const rest = this.#buffered;
        this.#buffered = "";
        return rest;
      }
      this.#buffered += this.#decoder.decode(value, { stream: true });
    }
  }

  async #readRaw(): Promise<string | undefined> {
    Deno.stdin.setRaw(true);
    let line = "";
    let cursor = 0;
    let index = this.#history.length;
    const redraw = () => {
      this.write(`\r\x1b[K${this.#prompt}${line}`);
      if (cursor < line.length) this.write(`\x1b[${line.length - cursor}D`);
    };
    redraw();
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) return undefined;
        const text = this.#decoder.decode(value);
        for (let i = 0; i < text.length; i++) {
          const ch = text[i];
          if (ch === "\r" || ch === "\n") {
            this.write("\r\n");
            return line;
          } else if (ch === "\x04") { // Ctrl-D
            if (line === "") {
              this.write("\r\n");
              return undefined;
            }
          } else if (ch === "\x03") { // Ctrl-C clears the line
            line = "";
            cursor = 0;
            this.write("^C\r\n");
          } else if (ch === "\x7f" || ch === "\b") {
            if (cursor > 0) {
              line = line.slice(0, cursor - 1) + line.slice(cursor);
              cursor--;
            }
          } else if (ch === "\x01") cursor = 0;
          else if (ch === "\x05") cursor = line.length;
          else if (ch === "\x15") {
            line = line.slice(cursor);
            cursor = 0;
          } else if (ch === "\x1b" && text[i + 1] === "[") {
            const code = text[i + 2];
            i += 2;
            if (code === "A" && index > 0) {
              line = this.#history[--index];
              cursor = line.length;
            } else if (code === "B") {
              index = Math.min(this.#history.length, index + 1);
              line = this.#history[index] ?? "";
              cursor = line.length;
            } else if (code === "C") cursor = Math.min(line.length, cursor + 1);
            else if (code === "D") cursor = Math.max(0, cursor - 1);
            else if (code === "H") cursor = 0;
            else if (code === "F") cursor = line.length;
          } else if (ch >= " ") {
            line = line.slice(0, cursor) + ch + line.slice(cursor);
            cursor++;
          }
          redraw();
        }
      }
    } finally {
      Deno.stdin.setRaw(false);
    }
  }

  /** Releases stdin. */
  [Symbol.dispose](): void {
    try {
      this.#reader.releaseLock();
    } catch { /* already released */ }
  }
}
