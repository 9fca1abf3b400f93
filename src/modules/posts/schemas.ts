import { z } from 'zod';
import { cursorQuery, limitQuery, safeText } from '../../lib/validation';

export const POST_CONTENT_MAX = 20_000;

export const postSchema = z.object({
  id: z.uuid().max(36),
  authorId: z.string().max(64),
  title: z.string().max(200),
  content: z.string().max(POST_CONTENT_MAX),
  published: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export type PostView = z.infer<typeof postSchema>;

export const postParams = z.object({ id: z.uuid().max(36) });

export const listPostsQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

/** `authorId`, `id` and timestamps are ours to set: a client sending them has them ignored. */
export const createPostBody = z.object({
  title: safeText(200),
  content: safeText(POST_CONTENT_MAX),
  published: z.boolean().optional().describe('Default false: a draft only its author and admins can see'),
});

export const updatePostBody = z
  .object({
    title: safeText(200).optional(),
    content: safeText(POST_CONTENT_MAX).optional(),
    published: z.boolean().optional(),
  })
  .refine((body) => body.title !== undefined || body.content !== undefined || body.published !== undefined, {
    message: 'Send at least one of title, content, published',
  });

export const deletedPostSchema = z.object({ id: z.uuid().max(36), deleted: z.literal(true) });
