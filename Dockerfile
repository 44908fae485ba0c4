# openOrchestrator: one Node.js process (dashboard, API, runner, chat adapters).
FROM node:20-bookworm-slim
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary fits; bubblewrap confines run_code.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ bubblewrap && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# The data volume belongs to the image's unprivileged `node` user (uid 1000), who runs the app.
RUN mkdir -p /data && chown node:node /data
USER node
ENV HOST=0.0.0.0 PORT=8080 DATA_DIR=/data
VOLUME /data
EXPOSE 8080
# HOST=0.0.0.0: set ADMIN_PASSWORD (docker run -e ADMIN_PASSWORD=...) or open /setup first; until then only /health and /setup answer.
CMD ["node", "--import", "tsx", "src/main.ts"]
