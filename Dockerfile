# Herald production image: production dependencies only, runs as a non-root user.
# The first start of the embedded database takes a few seconds: the health check allows a minute.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci applies these to the dependencies (patch-package, the postinstall script).
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HERALD_PORT=8080 \
    HERALD_DATA_DIR=/var/lib/herald/data \
    HERALD_SPOOL_DIR=/var/lib/herald/spool
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY handlers ./handlers
COPY backends ./backends
COPY config ./config
COPY spool ./spool
RUN mkdir -p /var/lib/herald/data /var/lib/herald/spool && chown -R node:node /var/lib/herald
# The embedded database and the spool: keep them on a volume so they outlive the container.
VOLUME /var/lib/herald
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + process.env.HERALD_PORT + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "--import", "tsx", "src/cli.ts"]
