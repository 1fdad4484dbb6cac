// A small browser client for eventgate: copy this file into your app.
//
// It queues events and sends them to eventgate's POST /api/batch, every `flushInterval` ms or as
// soon as `maxBatch` are waiting (eventgate takes up to 100 per batch by default).
// - Every event gets an idempotency key when it is tracked: a batch sent again, after a network
//   error or a 503, is stored once, and retried events keep their ids.
// - 503 (and 429) are tried again after their Retry-After; any other 4xx would fail again, so the
//   batch is dropped with a console warning and handed to `onDropped` (401: the user signed out).
// - When the page goes away (`pagehide`, or hidden, which mobile browsers may not follow with a
//   pagehide), everything still waiting is sent with fetch(..., { keepalive: true }), which the
//   browser completes after the page is gone. Browsers cap keepalive bodies at 64 KiB in flight
//   per page: keep events small.
//
// Same origin (recommended, through the app's rewrite): createEventgate({ url: "/events/api/batch" })
// Cross origin: createEventgate({ url: "https://events.example.com/api/batch", credentials: "include" })

export function createEventgate({
  url = "/events/api/batch",
  credentials = "same-origin",
  flushInterval = 1000,
  maxBatch = 10,
  maxAttempts = 5,
  onSent = () => {},
  onDropped = () => {},
} = {}) {
  let queue = []
  let timer = null
  const retrying = new Set() // batches waiting to be sent again: { events, timer }

  function track(name, data) {
    queue.push({ name, data, idempotencyKey: newKey() })
    if (queue.length >= maxBatch) flush()
    else timer ??= setTimeout(flush, flushInterval)
  }

  function flush({ keepalive = false } = {}) {
    clearTimeout(timer)
    timer = null
    while (queue.length > 0) send(queue.splice(0, maxBatch), 1, keepalive)
  }

  async function send(events, attempt, keepalive = false) {
    let response
    try {
      response = await fetch(url, {
        method: "POST",
        credentials,
        keepalive,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ events }),
      })
    } catch (error) {
      return retryLater(events, attempt, 500 * 2 ** attempt, error.message) // offline, or no answer
    }
    const answer = await response.json().catch(() => ({}))
    if (response.ok) return onSent(events, answer.ids)
    if (response.status === 503 || response.status === 429) {
      const seconds = Number(response.headers.get("Retry-After")) || 1
      return retryLater(events, attempt, seconds * 1000, answer.detail)
    }
    console.warn(`eventgate: ${response.status}, dropped ${events.length} event(s): ${answer.detail}`, answer)
    onDropped(events, response.status, answer)
  }

  function retryLater(events, attempt, delay, reason) {
    if (attempt >= maxAttempts) {
      console.warn(`eventgate: dropped ${events.length} event(s) after ${attempt} attempts: ${reason}`)
      return onDropped(events, 0, { detail: reason })
    }
    const waiting = { events }
    waiting.timer = setTimeout(() => {
      retrying.delete(waiting)
      send(events, attempt + 1)
    }, delay)
    retrying.add(waiting)
  }

  // The page is going away: the batches waiting for a retry go first, then the queue.
  function flushOnExit() {
    const waiting = [...retrying]
    retrying.clear()
    for (const { timer } of waiting) clearTimeout(timer)
    queue = [...waiting.flatMap(({ events }) => events), ...queue]
    flush({ keepalive: true })
  }

  function onVisibilityChange() {
    if (document.visibilityState === "hidden") flushOnExit()
  }

  addEventListener("pagehide", flushOnExit)
  document.addEventListener("visibilitychange", onVisibilityChange)

  // Stop listening for page exit and send what is queued (a React component unmounting, say).
  function close() {
    removeEventListener("pagehide", flushOnExit)
    document.removeEventListener("visibilitychange", onVisibilityChange)
    flush()
  }

  return { track, flush, close }
}

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)) // crypto.randomUUID needs https
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")
}
