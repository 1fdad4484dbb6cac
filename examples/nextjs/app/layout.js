export const metadata = { title: "eventgate + Next.js" }

const styles = `
  body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 44rem; margin: 2.5rem auto; padding: 0 1.5rem; }
  h1 { font-size: 1.6rem; margin-bottom: 0.25rem; }
  section { background: white; border: 1px solid #dde1e8; border-radius: 10px; padding: 1rem 1.25rem; margin: 1rem 0; }
  h2 { font-size: 1.05rem; margin: 0 0 0.25rem; }
  section p { margin: 0 0 0.75rem; color: #566072; font-size: 0.9rem; }
  button { font: inherit; padding: 0.45rem 0.9rem; margin-right: 0.5rem; border-radius: 6px; border: 1px solid #3451b2; background: #3f5fd1; color: white; cursor: pointer; }
  code { background: #eef0f4; padding: 0.05rem 0.3rem; border-radius: 4px; }
  .demo { display: inline-block; background: #fff3cd; border: 1px solid #e9cf78; border-radius: 6px; padding: 0.1rem 0.5rem; font-size: 0.85rem; }
  [role="status"] { font-variant-numeric: tabular-nums; }
  [role="alert"] { color: #a1251b; font-weight: 600; }
`

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <head>
        <style>{styles}</style>
      </head>
      <body>{children}</body>
    </html>
  )
}
