// A readers-writer lock for async code: additions share it, the garbage
// collector takes it alone (waiting writers go before new readers).
export class RwLock {
  private readers = 0;
  private writer = false;
  private waiting: { exclusive: boolean; go: () => void }[] = [];

  private grant(): void {
    while (this.waiting.length > 0 && !this.writer) {
      const next = this.waiting[0];
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.waiting.shift();
        this.writer = true;
        next.go();
        return;
      }
      this.waiting.shift();
      this.readers++;
      next.go();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    return new Promise((go) => {
      this.waiting.push({ exclusive, go });
      this.grant();
    });
  }

  async shared<T>(f: () => Promise<T>): Promise<T> {
    // granted at once when no one holds or waits for it alone (no promise per addition then)
    if (!this.writer && this.waiting.length === 0) this.readers++;
    else await this.acquire(false);
    try {
      return await f();
    } finally {
      this.readers--;
      this.grant();
    }
  }

  async exclusive<T>(f: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await f();
    } finally {
      this.writer = false;
      this.grant();
    }
  }
}
