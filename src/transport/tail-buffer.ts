/**
 * Keeps the last `max` bytes of a stream. A runaway command can print gigabytes; the tail is
 * what explains a failure, so the head is what we drop.
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.max * 2) this.compact();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    if (all.length > this.max) {
      this.truncated = true;
      this.chunks = [all.subarray(all.length - this.max)];
      this.size = this.max;
    } else {
      this.chunks = [all];
    }
  }

  toString(): string {
    this.compact();
    // A cut can land inside a multi-byte character; drop the partial lead bytes.
    let buf = this.chunks[0] ?? Buffer.alloc(0);
    if (this.truncated) {
      let i = 0;
      while (i < buf.length && i < 4 && ((buf[i] ?? 0) & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString('utf8');
  }
}
