# Kong with ai-proxy-azure installed as a rock. The first stage builds the Lua
# from TypeScript; the Kong image needs no Node.
#   docker build -t kong-ai-proxy-azure .
#   docker build --build-arg KONG_IMAGE=kong:3.8 -t kong-ai-proxy-azure .
ARG KONG_IMAGE=kong:3.9

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM ${KONG_IMAGE}
USER root
WORKDIR /tmp/ai-proxy-azure
COPY kong-plugin-ai-proxy-azure-0.1.0-1.rockspec ./
COPY --from=build /src/build ./build
RUN luarocks make kong-plugin-ai-proxy-azure-0.1.0-1.rockspec \
    && cd / && rm -rf /tmp/ai-proxy-azure
WORKDIR /
USER kong
ENV KONG_PLUGINS=bundled,ai-proxy-azure
