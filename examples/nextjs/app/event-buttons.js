"use client"
// Buttons that record events through eventgate, once through the app's rewrite (same origin) and
// once straight to eventgate's origin (CORS with credentials).
import { useEffect, useRef, useState } from "react"
import { createEventgate } from "@/lib/eventgate"

const WAYS = [
  { id: "rewrite", title: "Through the rewrite", how: "POST /events/api/batch on this app's origin" },
  { id: "cross-origin", title: "Cross-origin", how: "POST /api/batch on eventgate's origin, with credentials" },
]

export default function EventButtons({ eventgateUrl }) {
  const clients = useRef({})
  const [clicked, setClicked] = useState(0)
  const [sent, setSent] = useState(0)
  const [problem, setProblem] = useState(null)

  useEffect(() => {
    const callbacks = {
      onSent: (events) => setSent((count) => count + events.length),
      onDropped: (events, status, answer) => setProblem({ status, detail: answer.detail }),
    }
    clients.current = {
      rewrite: createEventgate({ url: "/events/api/batch", ...callbacks }),
      "cross-origin": createEventgate({ url: `${eventgateUrl}/api/batch`, credentials: "include", ...callbacks }),
    }
    return () => Object.values(clients.current).forEach((client) => client.close())
  }, [eventgateUrl])

  function record(way, button) {
    setClicked((count) => count + 1)
    clients.current[way].track("app/button.clicked", { button, via: way })
  }

  return (
    <>
      {WAYS.map(({ id, title, how }) => (
        <section key={id} aria-label={title}>
          <h2>{title}</h2>
          <p>{how}</p>
          {["Like", "Add to cart", "Share"].map((button) => (
            <button key={button} type="button" onClick={() => record(id, button)}>
              {button}
            </button>
          ))}
        </section>
      ))}
      <p role="status">
        Clicked {clicked} · sent {sent}
      </p>
      {problem && (
        <p role="alert">
          {problem.status === 401
            ? "You are signed out: these events were not recorded. Sign in to record events."
            : `Events were dropped (${problem.status || "network"}): ${problem.detail}`}
        </p>
      )}
    </>
  )
}
