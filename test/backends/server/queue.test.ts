import {describe, expect, it} from '@jest/globals';
import {JobQueue, stableStringify, type RunContext} from '../../../src/backends/server/queue.js';
import {HttpError} from '../../../src/backends/server/http-error.js';

function gate(): {promise: Promise<void>; open: () => void} {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return {promise, open};
}

/** A queue whose jobs run until their gate opens or they are aborted. */
function makeQueue(maxQueue = 2, timeoutMs = 0) {
  const gates = new Map<string, ReturnType<typeof gate>>();
  const order: string[] = [];
  const q = new JobQueue<{name: string}, string>({
    maxQueue,
    timeoutMs,
    classify: (err) => ({status: 500, type: 'x', message: String((err as Error).message)}),
    run: async (input, ctx: RunContext) => {
      order.push(input.name);
      const g = gate();
      gates.set(input.name, g);
      ctx.onProgress(1, 2);
      await new Promise<void>((resolve, reject) => {
        g.promise.then(resolve);
        ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
      if (input.name === 'boom') throw new Error('boom failed');
      return `done ${input.name}`;
    },
  });
  const waitRunning = async (name: string) => {
    for (let i = 0; i < 200 && !gates.has(name); i++) await new Promise((r) => setTimeout(r, 5));
    return gates.get(name)!;
  };
  return {q, order, waitRunning};
}

describe('JobQueue', () => {
  it('answers 503 (not 499) for jobs the server cancels at shutdown, and 499 for a client cancel', async () => {
    const {q, waitRunning} = makeQueue(5);
    const a = q.submit({name: 'a'}).job;
    const b = q.submit({name: 'b'}).job;
    const c = q.submit({name: 'c'}).job;
    await waitRunning('a');
    q.cancel(c.id);
    await c.done;
    expect(c.error).toMatchObject({status: 499, type: 'cancelled'});
    q.cancelAll('cancelled: server shutdown');
    await Promise.all([a.done, b.done]);
    expect(a.error).toMatchObject({status: 503, type: 'shutting_down'});
    expect(b.error).toMatchObject({status: 503, type: 'shutting_down'});
  });

  it('fails a job whose run throws before it awaits anything, and keeps running the next', async () => {
    let n = 0;
    const q = new JobQueue<{name: string}, string>({
      maxQueue: 5,
      timeoutMs: 0,
      classify: (err) => ({status: 500, type: 'server_error', message: (err as Error).message}),
      run: ((input: {name: string}) => {
        if (n++ === 0) throw new RangeError('synchronous failure');
        return Promise.resolve(`done ${input.name}`);
      }) as never,
    });
    const a = q.submit({name: 'a'}).job;
    const b = q.submit({name: 'b'}).job;
    await Promise.all([a.done, b.done]);
    expect(a.error).toMatchObject({status: 500, message: 'synchronous failure'});
    expect(b.output).toBe('done b');
  });

  it('runs jobs one at a time in FIFO order', async () => {
    const {q, order, waitRunning} = makeQueue(5);
    const a = q.submit({name: 'a'}).job;
    const b = q.submit({name: 'b'}).job;
    const c = q.submit({name: 'c'}).job;
    (await waitRunning('a')).open();
    await a.done;
    const gb = await waitRunning('b');
    expect(q.active).toBe(1);
    expect(b.status).toBe('running');
    expect(c.status).toBe('queued');
    expect(q.position(c.id)).toBe(1);
    gb.open();
    (await waitRunning('c')).open();
    await c.done;
    expect(order).toEqual(['a', 'b', 'c']);
    expect([a.output, b.output, c.output]).toEqual(['done a', 'done b', 'done c']);
    expect(c.progress).toEqual({step: 1, steps: 2});
  });

  it('refuses with 429 and a Retry-After when more than maxQueue jobs wait', async () => {
    const {q, waitRunning} = makeQueue(1);
    const a = q.submit({name: 'a'}).job;
    await waitRunning('a');
    q.submit({name: 'b'});
    let err: unknown;
    try {
      q.submit({name: 'c'});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(429);
    expect((err as HttpError).extra.retryAfter).toBeGreaterThanOrEqual(1);
    q.cancelAll();
    await a.done;
  });

  it('returns the same job for the same client id and input, 409 for a different input', async () => {
    const {q, waitRunning} = makeQueue(3);
    const first = q.submit({name: 'a'}, {id: 'job-1'});
    const again = q.submit({name: 'a'}, {id: 'job-1'});
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.job).toBe(first.job);
    expect(() => q.submit({name: 'other'}, {id: 'job-1'})).toThrow(/different input/);
    (await waitRunning('a')).open();
    await first.job.done;
  });

  it('forgets a finished job on request (its output is not retained), never a waiting or running one', async () => {
    const {q, waitRunning} = makeQueue();
    const a = q.submit({name: 'a'}).job;
    const b = q.submit({name: 'b'}).job;
    (await waitRunning('a')).open();
    await a.done;
    expect(q.forget(b.id)).toBe(false);
    expect(q.get(b.id)).toBe(b);
    expect(q.forget(a.id)).toBe(true);
    expect(q.get(a.id)).toBeUndefined();
    expect(q.forget(a.id)).toBe(false);
    (await waitRunning('b')).open();
    await b.done;
    expect(b.output).toBe('done b');
  });

  it('keeps finished outputs under retainBytes by dropping the oldest jobs first, never the newest', async () => {
    const q = new JobQueue<{n: number}, string>({
      maxQueue: 10, timeoutMs: 0, classify: () => ({status: 500, type: 'x', message: 'x'}),
      run: async (input) => 'x'.repeat(input.n), retainBytes: 250, outputBytes: (o) => o.length,
    });
    const jobs = [];
    for (const n of [100, 100, 100, 300]) {
      const {job} = q.submit({n});
      await job.done;
      jobs.push(job);
    }
    // 100+100+100 fit; the fourth (300, over the cap alone) pushes all older ones out and stays itself.
    expect(jobs.map((j) => q.get(j.id) !== undefined)).toEqual([false, false, false, true]);
    const {job} = q.submit({n: 100});
    await job.done;
    expect(q.get(jobs[3]!.id)).toBeUndefined();
    expect(q.get(job.id)?.output).toBe('x'.repeat(100));
  });

  it('cancels a waiting job without running it, and a running one through its signal', async () => {
    const {q, order, waitRunning} = makeQueue(3);
    const a = q.submit({name: 'a'}).job;
    const b = q.submit({name: 'b'}).job;
    expect(q.cancel(b.id)).toBe(true);
    await b.done;
    expect(b.status).toBe('cancelled');
    await waitRunning('a');
    expect(q.cancel(a.id)).toBe(true);
    await a.done;
    expect(a.status).toBe('cancelled');
    expect(order).toEqual(['a']);
    expect(q.cancel(a.id)).toBe(false);
  });

  it('fails a job that runs past the timeout with 504', async () => {
    const {q} = makeQueue(1, 50);
    const a = q.submit({name: 'slow'}).job;
    await a.done;
    expect(a.status).toBe('failed');
    expect(a.error?.status).toBe(504);
  });

  it('classifies a thrown error as a failed job and keeps going', async () => {
    const {q, waitRunning} = makeQueue(3);
    const a = q.submit({name: 'boom'}).job;
    const b = q.submit({name: 'b'}).job;
    (await waitRunning('boom')).open();
    await a.done;
    expect(a.status).toBe('failed');
    expect(a.error?.message).toBe('boom failed');
    (await waitRunning('b')).open();
    await b.done;
    expect(b.status).toBe('completed');
  });

  it('drain refuses new work with 503 and waits for accepted jobs', async () => {
    const {q, waitRunning} = makeQueue(3);
    const a = q.submit({name: 'a'}).job;
    const drained = q.drain();
    expect(() => q.submit({name: 'b'})).toThrow(/shutting down/);
    (await waitRunning('a')).open();
    await drained;
    expect(a.status).toBe('completed');
  });

  it('stableStringify ignores key order', () => {
    expect(stableStringify({b: 1, a: {d: 2, c: 3}})).toBe(stableStringify({a: {c: 3, d: 2}, b: 1}));
  });
});
