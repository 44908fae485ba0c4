import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES } from '../../engine/access.ts';
import type { UserRow } from '../../engine/db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { AppError } from '../../engine/errors.ts';
import { newUserSchema, userPatchSchema } from '../../engine/users.ts';
import { pathId } from '../params.ts';
import { errorResponses, idParams, json, noContent } from './schemas.ts';

/** A user as the API shows it (never the password hash). */
export function userJson(u: UserRow) {
  return { id: u.id, username: u.username, role: u.role, has_password: u.passwordHash !== null, created_at: new Date(u.createdAt).toISOString() };
}

export const UserJson = z
  .object({
    id: z.int(),
    username: z.string(),
    role: z.enum(ROLES),
    has_password: z.boolean().meta({ description: 'false: the user cannot sign in with a password (the loopback admin before setup)' }),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'User', description: 'an account (src/engine/access.ts: admin, operator, viewer)' });

const MeJson = z
  .object({
    id: z.int(),
    username: z.string(),
    role: z.enum(ROLES),
    signed_in_by: z.enum(['api-key', 'basic', 'session', 'token', 'loopback']).nullable().meta({ description: 'how the request proved who it is; loopback: a loopback server where no one has a password yet' }),
  })
  .meta({ id: 'Me', description: 'who the request acts as' });

const AUTH_ERRORS = ['UNAUTHORIZED', 'LOGIN_FAILED', 'SETUP_REQUIRED', 'FORBIDDEN_SCOPE'] as const;

function requireAdmin(req: FastifyRequest): void {
  if (req.caller.role !== 'admin') throw new AppError('FORBIDDEN_ROLE', `${req.caller.username} is ${req.caller.role === 'operator' ? 'an' : 'a'} ${req.caller.role}: only admins manage users.`);
}

/**
 * Accounts over REST (mounted under `/api`): `GET /me` for anyone; `GET /users`, `POST /users`
 * `{username, password, role}`, `PATCH /users/:id` `{role?, password?}`, `DELETE /users/:id`
 * (with their bots) for admins; others get 403 `FORBIDDEN_ROLE`.
 */
export const userRoutes = (engine: Engine): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();

    app.get(
      '/me',
      { schema: { tags: ['users'], summary: 'Who this request acts as', response: { 200: json(MeJson, 'the caller'), ...errorResponses(...AUTH_ERRORS) } } },
      async (req) => ({ id: req.caller.userId, username: req.caller.username, role: req.caller.role, signed_in_by: req.signedInBy }),
    );

    app.get(
      '/users',
      { schema: { tags: ['users'], summary: 'Every user (admins)', response: { 200: json(z.array(UserJson), 'oldest first'), ...errorResponses('FORBIDDEN_ROLE', ...AUTH_ERRORS) } } },
      async (req) => {
        requireAdmin(req);
        return (await engine.users.list()).map(userJson);
      },
    );

    app.post(
      '/users',
      {
        schema: {
          tags: ['users'],
          summary: 'Create a user with a role and a password (admins)',
          body: newUserSchema,
          response: { 201: json(UserJson, 'the new user (Location: /api/users/{id})'), ...errorResponses('VALIDATION_FAILED', 'USERNAME_TAKEN', 'FORBIDDEN_ROLE', ...AUTH_ERRORS) },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        const user = await engine.users.createWithPassword(req.body);
        reply.code(201).header('location', `/api/users/${user.id}`);
        return userJson(user);
      },
    );

    app.patch(
      '/users/:id',
      {
        schema: {
          tags: ['users'],
          summary: "Change a user's role and/or password (admins); a new password ends their sessions",
          params: idParams,
          body: userPatchSchema,
          response: { 200: json(UserJson, 'the user'), ...errorResponses('VALIDATION_FAILED', 'USER_NOT_FOUND', 'LAST_ADMIN', 'FORBIDDEN_ROLE', ...AUTH_ERRORS) },
        },
      },
      async (req) => {
        requireAdmin(req);
        const id = pathId(req.params.id, 'USER_NOT_FOUND', 'user');
        let user = await engine.users.require(id);
        if (req.body.role !== undefined) user = await engine.users.setRole(id, req.body.role);
        if (req.body.password !== undefined) {
          user = await engine.users.setPassword(id, req.body.password);
          await engine.sessions.deleteForUser(id);
        }
        return userJson(user);
      },
    );

    app.delete(
      '/users/:id',
      {
        schema: {
          tags: ['users'],
          summary: 'Delete a user and their bots (admins; not yourself, not the last admin)',
          params: idParams,
          response: { 204: noContent, ...errorResponses('USER_NOT_FOUND', 'LAST_ADMIN', 'FORBIDDEN_ROLE', ...AUTH_ERRORS) },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        await engine.deleteUser(pathId(req.params.id, 'USER_NOT_FOUND', 'user'), req.caller);
        return reply.code(204).send();
      },
    );
  };
