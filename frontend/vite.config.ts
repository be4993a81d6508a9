import { defineConfig } from "vite";

// Relative asset paths so the built UI loads from Tauri's custom protocol, a static
// server or file:// alike.
export default defineConfig({
  base: "./",
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: { target: "es2021", outDir: "dist", emptyOutDir: true },
});
