import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build goes into the Go package that embeds it (http/ui.go).
// `npm run dev` proxies the API to a running server (TRAINYARD_URL).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../http/ui/dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': process.env.TRAINYARD_URL ?? 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
    // A 2-core machine busy with the Go and Python suites renders a
    // 10,000-row table slowly; the default 5 s flakes there.
    testTimeout: 30_000,
  },
});
