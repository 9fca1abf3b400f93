/** The codes the conversations routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const CONVERSATIONS_ERRORS = defineErrors({
  CONVERSATION_NOT_FOUND: { status: 404, message: 'No such conversation' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'No such message' },
  NOT_A_MEMBER: { status: 403, message: 'Only the members of a conversation may do this: an admin joins a disputed one first' },
  NOT_YOUR_MESSAGE: { status: 403, message: 'Only its sender may change a message' },
  USER_BLOCKED: { status: 403, message: 'One of you blocked the other: you cannot message each other' },
  CONVERSATION_CLOSED: { status: 409, message: 'This conversation is read-only: the request is no longer live' },
  EDIT_WINDOW_CLOSED: { status: 409, message: 'The time to edit this message has passed' },
  MESSAGE_DELETED: { status: 409, message: 'The message was deleted' },
  NOT_DISPUTED: { status: 409, message: 'An admin joins only a conversation whose bounty is disputed' },
  UNKNOWN_MESSAGE: { status: 422, message: 'The message is not one of this conversation' },
});

export type ConversationsErrorCode = keyof typeof CONVERSATIONS_ERRORS.codes;
